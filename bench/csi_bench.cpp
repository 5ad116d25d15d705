// CSI calls against a running `open-local standalone`, over its socket, as
// the sidecars make them (run bench/vm_csi.sh for a pool inside the VM):
//   bench_csi ENDPOINT [volumes=50] [staging_root] [driver_pid]
// 1. CreateVolume latency (request to answer: LV created and tagged, its
//    volume actor started; no mkfs), p50/p99, one at a time;
// 2. NodeStageVolume latency (mkfs.ext4 with lazy init + mount) p50/p99,
//    when a staging root is given (it must be an allowed path);
// 3. DeleteVolume latency (secure wipe + lvremove) p50/p99;
// 4. with the driver's pid: its resident memory at start, with all volumes
//    created (one volume actor each) and its peak (VmRSS, VmHWM).
// Prints numbers only.

#include "csi/v1/csi.grpc.pb.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

double ms_since(clock_type::time_point start) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - start).count();
}

/// A "VmRSS"-like line of /proc/<pid>/status in KiB (-1 when unreadable).
long status_kib(const std::string& pid, const std::string& key) {
  std::ifstream in{"/proc/" + pid + "/status"};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key + ":", 0) == 0)
      return std::atol(line.c_str() + key.size() + 1);
  return -1;
}

void report(const char* what, std::vector<double> ms) {
  if (ms.empty())
    return;
  std::sort(ms.begin(), ms.end());
  auto at = [&](double q) {
    return ms[std::min(ms.size() - 1, static_cast<size_t>(q * ms.size()))];
  };
  std::printf("%-18s n=%zu  p50 %.1f ms  p99 %.1f ms  min %.1f ms  max %.1f ms\n", what, ms.size(),
              at(0.50), at(0.99), ms.front(), ms.back());
}

std::unique_ptr<grpc::ClientContext> ctx() {
  auto c = std::make_unique<grpc::ClientContext>();
  c->set_deadline(std::chrono::system_clock::now() + std::chrono::minutes{10});
  return c;
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_csi ENDPOINT [volumes=50] [staging_root] [driver_pid]\n");
    return 2;
  }
  std::string endpoint = argv[1];
  int volumes = argc > 2 ? std::atoi(argv[2]) : 50;
  std::string staging = argc > 3 ? argv[3] : "";
  std::string pid = argc > 4 ? argv[4] : "";
  long rss_start = pid.empty() ? -1 : status_kib(pid, "VmRSS");
  long rss_created = -1;
  auto channel = grpc::CreateChannel(endpoint, grpc::InsecureChannelCredentials());
  auto controller = csi::v1::Controller::NewStub(channel);
  auto node = csi::v1::Node::NewStub(channel);
  std::vector<double> create_ms, stage_ms, delete_ms;
  for (int i = 0; i < volumes; ++i) {
    csi::v1::CreateVolumeRequest req;
    req.set_name("bench-" + std::to_string(i));
    req.mutable_capacity_range()->set_required_bytes(8 << 20);
    auto* cap = req.add_volume_capabilities();
    cap->mutable_access_mode()->set_mode(csi::v1::VolumeCapability::AccessMode::SINGLE_NODE_WRITER);
    cap->mutable_mount()->set_fs_type("ext4");
    csi::v1::CreateVolumeResponse resp;
    auto start = clock_type::now();
    auto s = controller->CreateVolume(ctx().get(), req, &resp);
    if (!s.ok()) {
      std::fprintf(stderr, "CreateVolume %s: %s\n", req.name().c_str(), s.error_message().c_str());
      return 1;
    }
    create_ms.push_back(ms_since(start));
  }
  if (!pid.empty()) {
    rss_created = status_kib(pid, "VmRSS");
    std::printf("driver RSS: %.1f MiB at start, %.1f MiB with %d volumes\n", rss_start / 1024.0,
                rss_created / 1024.0, volumes);
    std::fflush(stdout);
  }
  if (!staging.empty()) {
    for (int i = 0; i < volumes; ++i) {
      auto path = staging + "/bench-" + std::to_string(i);
      std::filesystem::create_directories(path);
      csi::v1::NodeStageVolumeRequest req;
      req.set_volume_id("bench-" + std::to_string(i));
      req.set_staging_target_path(path);
      auto* cap = req.mutable_volume_capability();
      cap->mutable_access_mode()->set_mode(
        csi::v1::VolumeCapability::AccessMode::SINGLE_NODE_WRITER);
      cap->mutable_mount()->set_fs_type("ext4");
      csi::v1::NodeStageVolumeResponse resp;
      auto start = clock_type::now();
      auto s = node->NodeStageVolume(ctx().get(), req, &resp);
      if (!s.ok()) {
        std::fprintf(stderr, "NodeStageVolume: %s\n", s.error_message().c_str());
        return 1;
      }
      stage_ms.push_back(ms_since(start));
      csi::v1::NodeUnstageVolumeRequest ureq;
      ureq.set_volume_id(req.volume_id());
      ureq.set_staging_target_path(path);
      csi::v1::NodeUnstageVolumeResponse uresp;
      if (auto u = node->NodeUnstageVolume(ctx().get(), ureq, &uresp); !u.ok()) {
        std::fprintf(stderr, "NodeUnstageVolume: %s\n", u.error_message().c_str());
        return 1;
      }
    }
  }
  for (int i = 0; i < volumes; ++i) {
    csi::v1::DeleteVolumeRequest req;
    req.set_volume_id("bench-" + std::to_string(i));
    csi::v1::DeleteVolumeResponse resp;
    auto start = clock_type::now();
    auto s = controller->DeleteVolume(ctx().get(), req, &resp);
    if (!s.ok()) {
      std::fprintf(stderr, "DeleteVolume: %s\n", s.error_message().c_str());
      return 1;
    }
    delete_ms.push_back(ms_since(start));
  }
  report("CreateVolume", create_ms);
  report("NodeStageVolume", stage_ms);
  report("DeleteVolume", delete_ms);
  if (!pid.empty())
    std::printf("driver RSS peak (VmHWM): %.1f MiB\n", status_kib(pid, "VmHWM") / 1024.0);
  return 0;
}
