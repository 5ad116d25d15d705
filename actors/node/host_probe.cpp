#include "actors/node/host_probe.hpp"

#include "actors/backends/process.hpp"
#include "actors/core/errc.hpp"
#include "actors/core/json.hpp"

#include <fstream>
#include <sstream>
#include <sys/utsname.h>

namespace olocal {

namespace fs = std::filesystem;

namespace {

std::string read_all(const fs::path& file) {
  std::ifstream in{file};
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

bool has_word_line(const std::string& text, std::string_view word) {
  std::istringstream lines{text};
  std::string line;
  while (std::getline(lines, line))
    if (line.find(word) != std::string::npos)
      return true;
  return false;
}

} // namespace

host_facts probe_host(const fs::path& proc, const fs::path& cgroup_root) {
  host_facts facts;
  facts.device_mapper = has_word_line(read_all(proc / "misc"), "device-mapper");

  std::error_code ec;
  auto mounts = read_all(proc / "self" / "mounts");
  bool v2_root = fs::exists(cgroup_root / "cgroup.controllers", ec);
  bool v2_unified = fs::exists(cgroup_root / "unified" / "cgroup.controllers", ec);
  facts.cgroup_v1_blkio = fs::exists(cgroup_root / "blkio" / "blkio.throttle.read_bps_device", ec);
  if (v2_root) {
    facts.cgroup_mode = "v2";
    auto controllers = read_all(cgroup_root / "cgroup.controllers");
    facts.cgroup_v2_io = (" " + controllers).find(" io") != std::string::npos;
  } else if (facts.cgroup_v1_blkio || v2_unified) {
    facts.cgroup_mode = v2_unified ? "hybrid" : "v1";
  } else {
    facts.cgroup_mode = has_word_line(mounts, "cgroup") ? "v1" : "none";
  }

  utsname uts{};
  if (::uname(&uts) == 0)
    facts.kernel = uts.release;

  auto lvm = run_command({{"lvm", "version"}, std::chrono::seconds{10}, {"LC_ALL=C"}});
  if (!lvm) {
    facts.lvm_error = render(lvm.error());
  } else if (lvm->exit_code != 0) {
    facts.lvm_error = "lvm version exited " + std::to_string(lvm->exit_code);
  } else {
    // First line: "  LVM version:     2.03.16(2) (2022-05-18)"
    std::istringstream lines{lvm->out};
    std::string line;
    while (std::getline(lines, line)) {
      auto colon = line.find("LVM version:");
      if (colon == std::string::npos)
        continue;
      auto value = line.substr(colon + 12);
      auto begin = value.find_first_not_of(' ');
      facts.lvm_version = begin == std::string::npos ? "" : value.substr(begin);
      break;
    }
    if (facts.lvm_version.empty())
      facts.lvm_error = "unexpected output of lvm version";
  }
  return facts;
}

std::string to_json(const host_facts& f) {
  return "{\"kernel\":" + json_quote(f.kernel) +
         ",\"deviceMapper\":" + (f.device_mapper ? "true" : "false") +
         ",\"cgroupMode\":" + json_quote(f.cgroup_mode) +
         ",\"cgroupV2Io\":" + (f.cgroup_v2_io ? "true" : "false") +
         ",\"cgroupV1Blkio\":" + (f.cgroup_v1_blkio ? "true" : "false") +
         ",\"lvmVersion\":" + json_quote(f.lvm_version) +
         (f.lvm_error.empty() ? "" : ",\"lvmError\":" + json_quote(f.lvm_error)) + "}";
}

} // namespace olocal
